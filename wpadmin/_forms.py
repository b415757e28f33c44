"""The admin pages' forms (Flask-WTF): every one carries a CSRF token, checked
by ``validate_on_submit``; field labels and error messages are WordPress's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional


class LoginForm(FlaskForm):
    """wp-login.php: ``log``, ``pwd``, ``rememberme``, ``redirect_to`` (WordPress's field names)."""

    log = StringField("Username or Email Address", validators=[DataRequired("The username field is empty.")])
    pwd = PasswordField("Password", validators=[DataRequired("The password field is empty.")])
    rememberme = BooleanField("Remember Me")
    redirect_to = HiddenField()


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (sign out, revoke all)."""


class NewAppPasswordForm(FlaskForm):
    name = StringField(
        "New Application Password Name",
        validators=[DataRequired("An application name is required to create an application password.")],
    )


class RevokeForm(FlaskForm):
    uuid = HiddenField(validators=[DataRequired()])


class RequeueForm(FlaskForm):
    key = HiddenField(validators=[DataRequired()])


class ReplayForm(FlaskForm):
    subscriber = SelectField("Subscriber", choices=[("", "All subscribers")], validate_choice=True)
    since = DateField("Since (UTC day)", validators=[InputRequired("Choose the first day to deliver again.")])
    hour = IntegerField(
        "Hour (UTC, 0-23)",
        default=0,
        validators=[Optional(), NumberRange(0, 23, "The hour is a whole number from 0 to 23.")],
    )
