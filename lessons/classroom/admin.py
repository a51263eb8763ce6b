"""Admin for cohorts (data fixes: memberships, instructors) and the list filter by cohort that
the learners' records in lessons.admin use."""
from django.contrib import admin

from lessons.classroom.models import Cohort, Exemplary, Membership, ShareConsent, TeachBackComment


class CohortFilter(admin.SimpleListFilter):
    """Records of one cohort's learners (a model with a ``learner`` field)."""

    title = "cohort"
    parameter_name = "cohort"

    def lookups(self, request, model_admin):
        return [(cohort.pk, str(cohort)) for cohort in Cohort.objects.all()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(learner__cohort_memberships__cohort_id=self.value())
        return queryset


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("learner",)
    readonly_fields = ("joined_at",)


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "starts_on", "ends_on", "created_at")
    search_fields = ("name", "code")
    filter_horizontal = ("instructors",)
    readonly_fields = ("code", "created_at")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("learner", "cohort", "joined_at")
    list_filter = ("cohort",)
    list_select_related = ("learner", "cohort")
    search_fields = ("learner__username",)


@admin.register(TeachBackComment)
class TeachBackCommentAdmin(admin.ModelAdmin):
    list_display = ("teachback", "author", "cohort", "created_at")
    list_filter = ("cohort",)
    list_select_related = ("teachback__learner", "teachback__step__lesson", "author", "cohort")


admin.site.register(Exemplary, list_display=("teachback", "cohort", "marked_by", "marked_at"), list_filter=("cohort",),
                    list_select_related=("teachback__learner", "teachback__step__lesson", "cohort", "marked_by"))
admin.site.register(ShareConsent, list_display=("teachback", "given_at"),
                    list_select_related=("teachback__learner", "teachback__step__lesson"))
