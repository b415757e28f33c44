"""WordPress's default roles and their capabilities, and ``user_can``.

The capability lists are those ``populate_roles()`` (wp-admin/includes/schema.php,
versions 1.6 to 3.0) gives a fresh single site, grouped as it grants them; custom roles and
meta capabilities (``edit_post`` and friends) are out of scope because the only
question this service asks is "may this user export this site's events?".
Only ``administrator`` has ``manage_options``, the export's default capability.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from accounts.users import User

#: The value of a role meaning "no role": no capabilities (WordPress's "— No role for this site —").
NO_ROLE = ""


def _levels(top: int) -> tuple[str, ...]:
    return tuple(f"level_{n}" for n in range(top, -1, -1))


_SUBSCRIBER = ("read", *_levels(0))
_CONTRIBUTOR = ("edit_posts", "read", *_levels(1), "delete_posts")
_AUTHOR = (
    "upload_files",
    "edit_posts",
    "edit_published_posts",
    "publish_posts",
    "read",
    *_levels(2),
    "delete_posts",
    "delete_published_posts",
)
_PAGES_AND_PRIVATE = (  # populate_roles_210, administrator and editor
    "edit_others_pages",
    "edit_published_pages",
    "publish_pages",
    "delete_pages",
    "delete_others_pages",
    "delete_published_pages",
    "delete_posts",
    "delete_others_posts",
    "delete_published_posts",
    "delete_private_posts",
    "edit_private_posts",
    "read_private_posts",
    "delete_private_pages",
    "edit_private_pages",
    "read_private_pages",
)
_EDITING = (  # populate_roles_160, administrator and editor
    "moderate_comments",
    "manage_categories",
    "manage_links",
    "upload_files",
    "unfiltered_html",
    "edit_posts",
    "edit_others_posts",
    "edit_published_posts",
    "publish_posts",
    "edit_pages",
    "read",
)
_EDITOR = (*_EDITING, *_levels(7), *_PAGES_AND_PRIVATE)
_ADMINISTRATOR = (
    "switch_themes",  # populate_roles_160, administrator only
    "edit_themes",
    "activate_plugins",
    "edit_plugins",
    "edit_users",
    "edit_files",
    "manage_options",
    "import",
    *_EDITING,
    *_levels(10),
    *_PAGES_AND_PRIVATE,
    "delete_users",
    "create_users",
    "unfiltered_upload",
    "edit_dashboard",
    "update_plugins",
    "delete_plugins",
    "install_plugins",
    "update_themes",
    "install_themes",
    "update_core",
    "list_users",
    "remove_users",
    "promote_users",
    "edit_theme_options",
    "delete_themes",
    "export",
)

#: role name -> its capabilities, most powerful first (the order ``users list`` documents).
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    "administrator": frozenset(_ADMINISTRATOR),
    "editor": frozenset(_EDITOR),
    "author": frozenset(_AUTHOR),
    "contributor": frozenset(_CONTRIBUTOR),
    "subscriber": frozenset(_SUBSCRIBER),
}

#: Every value a role may take, including "no role".
ROLES: tuple[str, ...] = (*ROLE_CAPABILITIES, NO_ROLE)


def role_on(user: User, blog_id: int) -> str:
    """The user's role on ``blog_id``: the per-site role if one is set, else the default role."""
    return user.site_roles.get(blog_id, user.role)


def user_can(user: User, capability: str, blog_id: int) -> bool:
    """Whether ``user`` has ``capability`` on site ``blog_id``.

    Like WordPress's ``user_can``: a super admin can do everything on every
    site; anyone else has exactly the capabilities of their role there, and a
    user whose role on that site is "none" has none at all.
    """
    if user.super_admin:
        return True
    return capability in ROLE_CAPABILITIES.get(role_on(user, blog_id), frozenset())
