"""Physicists' Hermite polynomials."""


def hermite_polynomials(z, max_order):
    """H_0(z), ..., H_K(z) by the three-term recurrence.

    H₀ = 1, H₁ = 2z, H_{p+1} = 2z H_p - 2p H_{p-1}. The recurrence (never
    `pow`) keeps every gradient finite at z = 0, where d(z⁰)/dz is NaN.

    Args:
        z: tensor of any shape.
        max_order: K >= 0.

    Returns:
        List of K + 1 tensors shaped like `z`.
    """
    polys = [z * 0 + 1]
    if max_order >= 1:
        polys.append(2 * z)
    for p in range(1, max_order):
        polys.append(2 * z * polys[p] - 2 * p * polys[p - 1])
    return polys
