"""Who may see what. Instructors are staff users; everyone else sees only their own work."""


def is_instructor(user) -> bool:
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def can_see_owned(user, owner_id: int) -> bool:
    return bool(user.is_authenticated and (user.id == owner_id or is_instructor(user)))
