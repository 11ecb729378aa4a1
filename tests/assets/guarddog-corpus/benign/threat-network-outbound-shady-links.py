# Benign regression test for threat-network-outbound-shady-links.
# Discord invite links and shields.io badges are not exfiltration channels
# (only the Discord webhook API path is). (FP from pytest README/METADATA.)
DISCORD_INVITE = "https://discord.com/invite/pytest-dev"
DISCORD_BADGE = "https://img.shields.io/badge/Discord-pytest--dev-blue"
