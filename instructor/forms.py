from django import forms

from blog import seed
from instructor import resets


class ResetForm(forms.Form):
    size = forms.ChoiceField(choices=[(s, s) for s in seed.SIZES], initial=seed.DEFAULT_SIZE)
    seed = forms.IntegerField(min_value=0, initial=seed.DEFAULT_SEED)
    preset = forms.CharField(required=False, help_text="A preset overrides size and seed.")

    def clean_preset(self) -> str:
        name: str = self.cleaned_data["preset"].strip()
        if name:
            try:
                resets.load_preset(name)
            except resets.PresetError as exc:
                raise forms.ValidationError(str(exc).capitalize() + ".") from exc
        return name
