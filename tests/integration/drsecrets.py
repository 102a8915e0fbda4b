"""Every secret the integration tests hand to drnode (tokens, keys,
passwords): no node log of any cluster may hold one. drcluster.Cluster's
cleanup checks its nodes' logs; the service helpers register theirs."""

SECRETS = set()


def register_secret(secret):
    """Remember a secret that must never appear in a node's log."""
    if secret and len(secret) >= 8:
        SECRETS.add(secret)


def pem_key_body(path):
    """The base64 lines of a PEM private key, each a secret."""
    with open(path) as f:
        return [line.strip() for line in f
                if line.strip() and not line.startswith("-----")]


def secrets_in(text):
    """The registered secrets that text holds (shown shortened)."""
    return sorted(s[:4] + "..." for s in SECRETS if s in text)
