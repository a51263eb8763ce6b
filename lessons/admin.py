from django import forms
from django.contrib import admin

from lessons.models import Guess, Lesson, Progress, RecallRating, Reveal, Step, TeachBack
from lessons.validate import validate_step


class StepAdminForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = "__all__"

    def clean(self):
        """An edit in the admin passes the same validator as a lesson file."""
        data = super().clean()
        lesson = data.get("lesson")
        if lesson and isinstance(data.get("config"), dict):
            step = {**data["config"], "id": data.get("key"), "type": data.get("kind")}
            sources = {s.get("url") for s in lesson.sources}
            errors = validate_step(f"{lesson.slug}/{data.get('key')}", step, sources,
                                   set(Lesson.objects.values_list("slug", flat=True)))
            if errors:
                raise forms.ValidationError(errors)
        return data


class StepInline(admin.StackedInline):
    model = Step
    form = StepAdminForm
    extra = 0
    fields = ("key", "order", "kind", "title", "config", "retired")


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("order", "title", "slug")
    inlines = [StepInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    form = StepAdminForm
    list_display = ("__str__", "kind", "title", "retired")
    list_filter = ("lesson", "kind", "retired")


class RecordAdmin(admin.ModelAdmin):
    """Learners' records are evidence: instructors read them, nobody edits them here."""

    list_display = ("learner", "step", "created_at")
    list_filter = ("step__lesson",)

    def has_change_permission(self, request, obj=None):
        return False


for model, extra in ((Guess, ("attempt", "answer", "correct")), (Reveal, ()), (RecallRating, ("rating",)),
                     (TeachBack, ())):
    admin.site.register(model, type(f"{model.__name__}Admin", (RecordAdmin,),
                                    {"list_display": RecordAdmin.list_display + extra}))
admin.site.register(Progress, list_display=("learner", "lesson", "current_step", "finished_at"))
