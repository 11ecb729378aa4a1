# Positive test for threat-network-outbound-shady-links.
# Exfiltration via a Discord webhook and a URL shortener.
WEBHOOK = "https://discord.com/api/webhooks/123456789/abcdefghijklmnop"
SHORT = "https://bit.ly/xyz123"
