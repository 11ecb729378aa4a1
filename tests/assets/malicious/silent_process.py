# expect: MAL009
import os
import subprocess


def start():
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.Popen(
        os.path.join(here, "helper"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
