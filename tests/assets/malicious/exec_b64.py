# expect: MAL001
import base64

PAYLOAD = "cHJpbnQoJ293bmVkJyk="
exec(base64.b64decode(PAYLOAD))
