"""Admin for lessons, steps and learners' records.

The lesson files (lessons/content/*.yaml) are the source of truth. An edit here takes effect
at once and passes the same validator as a file, but it lives only in this database:
``loadlessons`` leaves a lesson alone while its file is unchanged, and rewrites the whole
lesson — its fields and every step in the file — from the file the next time the file
changes. Put lasting edits in the file.
"""
from django import forms
from django.contrib import admin
from django.utils.text import Truncator

from lessons import predictions
from lessons.classroom.admin import CohortFilter
from lessons.models import ChecklistTick, Guess, Lesson, Progress, RecallRating, Reveal, Step, StepOpened, TeachBack
from lessons.validate import lesson_sources, validate_lesson_fields, validate_step

FILES_WIN = ("The lesson files in lessons/content/ are the source of truth. An edit saved here is "
             "validated like a file and shows at once, but the next time this lesson's file changes, "
             "loadlessons rewrites the lesson and all the steps in its file from the file, and this "
             "edit is gone. Make lasting changes in the file.")


class LessonAdminForm(forms.ModelForm):
    class Meta:
        model = Lesson
        fields = "__all__"

    def clean(self):
        """The lesson's own fields pass the same validator as a lesson file."""
        data = super().clean()
        errors = validate_lesson_fields(data, set(Lesson.objects.values_list("slug", flat=True)) | {data.get("slug")})
        if errors:
            raise forms.ValidationError(errors)
        return data


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
            errors = validate_step(f"{lesson.slug}/{data.get('key')}", step,
                                   lesson_sources({"sources": lesson.sources}),
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
    form = LessonAdminForm
    list_display = ("order", "title", "slug")
    fieldsets = [(None, {"description": FILES_WIN,
                         "fields": ("slug", "order", "title", "goal", "analogy", "infra_bridge", "sources")})]
    inlines = [StepInline]


@admin.register(Step)
class StepAdmin(admin.ModelAdmin):
    form = StepAdminForm
    list_display = ("__str__", "kind", "title", "retired")
    list_filter = ("lesson", "kind", "retired")
    fieldsets = [(None, {"description": FILES_WIN, "fields": ("lesson", "key", "order", "kind", "title", "config",
                                                              "retired")})]


class RecordAdmin(admin.ModelAdmin):
    """Learners' records are evidence: instructors read them, nobody edits them here."""

    list_display = ("learner", "step", "created_at")
    list_filter = (CohortFilter, "step__lesson")
    list_select_related = ("learner", "step__lesson")
    search_fields = ("learner__username", "step__key")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Guess)
class GuessAdmin(RecordAdmin):
    list_display = ("learner", "step", "attempt", "answer_text", "correct", "created_at")
    list_filter = (CohortFilter, "step__lesson", "attempt", "correct")
    readonly_fields = ("answer_text",)

    @admin.display(description="answer")
    def answer_text(self, guess):
        """The answer as the learner saw it (choice texts, a number with its unit), not raw JSON."""
        return predictions.describe(guess.step, guess.answer)


@admin.register(TeachBack)
class TeachBackAdmin(RecordAdmin):
    list_display = ("learner", "step", "excerpt", "ticked", "created_at")

    @admin.display(description="text")
    def excerpt(self, record):
        return Truncator(record.text).chars(80)

    @admin.display(description="checklist ticked")
    def ticked(self, record):
        return f"{len(record.checked)} of {len(record.step.config.get('checklist', []))}"


for model, extra in ((Reveal, ()), (RecallRating, ("rating",)), (ChecklistTick, ("checked",)), (StepOpened, ())):
    admin.site.register(model, type(f"{model.__name__}Admin", (RecordAdmin,),
                                    {"list_display": RecordAdmin.list_display + extra}))


@admin.register(Progress)
class ProgressAdmin(admin.ModelAdmin):
    list_display = ("learner", "lesson", "current_step", "finished_at", "updated_at")
    list_filter = (CohortFilter, "lesson")
    list_select_related = ("learner", "lesson", "current_step__lesson")
    search_fields = ("learner__username",)
