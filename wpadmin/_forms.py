"""The admin pages' forms (Flask-WTF): every one carries a CSRF token, checked
by ``validate_on_submit``; field labels and error messages are WordPress's.

Flask-WTF and WTForms ship no type information, hence the ``type: ignore``
on their imports and on each ``FlaskForm`` subclass (mypy sees ``Any``)."""

from __future__ import annotations

from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from wtforms import (  # type: ignore[import-untyped]
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional  # type: ignore[import-untyped]


class LoginForm(FlaskForm):  # type: ignore[misc]
    """wp-login.php: ``log``, ``pwd``, ``rememberme``, ``redirect_to`` (WordPress's field names)."""

    log = StringField("Username or Email Address", validators=[DataRequired("The username field is empty.")])
    pwd = PasswordField("Password", validators=[DataRequired("The password field is empty.")])
    rememberme = BooleanField("Remember Me")
    redirect_to = HiddenField()


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that only needs the CSRF token (sign out, revoke all)."""


class NewAppPasswordForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "New Application Password Name",
        validators=[DataRequired("An application name is required to create an application password.")],
    )


class RevokeForm(FlaskForm):  # type: ignore[misc]
    uuid = HiddenField(validators=[DataRequired()])


class RequeueForm(FlaskForm):  # type: ignore[misc]
    key = HiddenField(validators=[DataRequired()])


class ResumeForm(FlaskForm):  # type: ignore[misc]
    """Resume a paused subscriber (``jobs.pause.resume``)."""

    name = HiddenField(validators=[DataRequired()])


class ReplayForm(FlaskForm):  # type: ignore[misc]
    subscriber = SelectField("Subscriber", choices=[SelectChoice("", "All subscribers")], validate_choice=True)
    since = DateField("Since (UTC day)", validators=[InputRequired("Choose the first day to deliver again.")])
    hour = IntegerField(
        "Hour (UTC, 0-23)",
        default=0,
        validators=[Optional(), NumberRange(0, 23, "The hour is a whole number from 0 to 23.")],
    )
