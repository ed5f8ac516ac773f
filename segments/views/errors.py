from django.core.exceptions import ValidationError


def error_dict(error: ValidationError) -> dict[str, list[str]]:
    """An action's errors by field; errors of no field under "general"."""
    if hasattr(error, "error_dict"):
        return error.message_dict
    return {"general": error.messages}
