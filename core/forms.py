from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):  # type: ignore[type-arg]  # generic only in the stubs
    """A learner's account: a username and a password Django's validators accept."""

    usable_password = None  # a learner always signs in with a password

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
