"""GET/POST /review/settings/: desired retention and the daily new-item limit."""
from lessons.review.models import ReviewSettings


def test_it_shows_the_defaults_and_what_they_schedule(logged_in):
    page = logged_in.get("/review/settings/").content.decode()
    assert 'name="desired_retention" value="0.9"' in page and 'name="daily_new_limit" value="10"' in page
    assert "new card, Good</th><td>2 days" in page and "new card, Again</th><td>1 minute" in page


def test_it_saves_the_learners_settings(logged_in, learner):
    response = logged_in.post("/review/settings/", {"desired_retention": "0.85", "daily_new_limit": "3"}, follow=True)
    assert "Saved" in response.content.decode()
    chosen = ReviewSettings.objects.get(learner=learner)
    assert (chosen.desired_retention, chosen.daily_new_limit) == (0.85, 3)


def test_it_refuses_a_retention_out_of_range_and_keeps_the_old_one(logged_in, learner):
    response = logged_in.post("/review/settings/", {"desired_retention": "0.5", "daily_new_limit": "3"})
    assert response.status_code == 400 and "greater than or equal to 0.7" in response.content.decode()
    assert not ReviewSettings.objects.filter(learner=learner).exists()
