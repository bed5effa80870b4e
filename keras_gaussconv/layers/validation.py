"""Argument checks shared by the layers: each error names the argument and the value received."""

import numbers


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """`value` as an int >= 1, else ValueError naming `name`."""
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_non_negative_int(name, value):
    """`value` as an int >= 0, else ValueError naming `name`."""
    if not _is_int(value) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer. Received: {name}={value!r}"
        )
    return int(value)


def check_int_tuple(name, value, length):
    """An int or a tuple of `length` ints, each >= 1, normalised to a tuple of ints."""
    values = (value,) * length if _is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != length or not all(_is_int(v) and v >= 1 for v in values):
        raise ValueError(
            f"`{name}` must be a positive integer or a tuple of {length} positive "
            f"integers. Received: {name}={value!r}"
        )
    return tuple(int(v) for v in values)


def check_bool(name, value):
    """`value` if it is True or False (not a truthy stand-in), else ValueError naming `name`."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value


def check_choice(name, value, choices):
    """`value` (strings compared case-insensitively) if it is one of `choices`."""
    normalised = value.lower() if isinstance(value, str) else value
    if normalised not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return normalised


def check_positive_float(name, value):
    """`value` as a float > 0, else ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    return float(value)


def check_fraction(name, value):
    """`value` as a float in [0, 1), else ValueError naming `name` (a dropout rate, a momentum)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1). Received: {name}={value!r}")
    return float(value)
