"""Settings shared by the sandboxes: lists given in the environment."""

import json


def env_list(value: object) -> object:
    """Accept a JSON list or a comma/space separated string from the environment."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.replace(",", " ").split() if part]
    return value
