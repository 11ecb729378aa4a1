# expect: MAL010
import os
import subprocess


def who():
    host = os.popen("hostname").read()
    user = subprocess.run(["whoami"], capture_output=True, check=False).stdout
    return host, user
