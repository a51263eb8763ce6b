"""GET /review/: the next item, asked before it is revealed; the due count on every page."""
from datetime import timedelta

from django.utils import timezone

from lessons.models import Reveal
from lessons.review import services
from lessons.review.models import ReviewSettings
from tests.review_support import HTMX, step


def test_it_says_how_the_queue_fills_when_it_is_empty(logged_in):
    page = logged_in.get("/review/").content.decode()
    assert "Nothing to review right now" in page and "rate a recall card or reveal a prediction" in page


def test_a_recall_rated_again_in_its_lesson_is_due_and_counted_in_the_navigation(logged_in):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    lessons_page = logged_in.get("/lessons/").content.decode()
    assert '<span class="due-count"' in lessons_page and "1 due" in lessons_page
    queue = logged_in.get("/review/").content.decode()
    assert "Which dimension does a column-parallel layer split" in queue
    assert "Show the answer" in queue and 'value="again"' in queue


def test_the_lesson_links_the_rating_to_the_queue(logged_in):
    page = logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "good"}, follow=True)
    assert 'it goes into your <a href="/review/">review queue</a>' in page.content.decode()


def test_the_navigation_shows_no_count_when_nothing_is_due(logged_in):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "good"})  # due in days
    page = logged_in.get("/lessons/").content.decode()
    assert 'id="nav-review"' in page and "due-count" not in page


def test_it_asks_a_revealed_prediction_as_a_new_item_with_fresh_numbers(logged_in, learner):
    Reveal.objects.create(learner=learner, step=step("gate-columns"))
    page = logged_in.get("/review/").content.decode()
    assert "New in your queue" in page and "new numbers" in page
    assert "The gate projection is column-parallel" in page and 'name="value"' in page
    assert "How an answer is rated: Wrong: Again" in page


def test_it_stops_introducing_new_items_at_the_daily_limit(logged_in, learner):
    ReviewSettings.objects.create(learner=learner, daily_new_limit=0)
    Reveal.objects.create(learner=learner, step=step("gate-columns"))
    page = logged_in.get("/review/").content.decode()
    assert "1 new item waits for tomorrow" in page


def test_it_says_when_the_next_item_is_due(logged_in, learner):
    services.rate_from_lesson(learner, step("recall-col-row"), "easy", timezone.now() - timedelta(minutes=1))
    page = logged_in.get("/review/").content.decode()
    assert "Nothing to review right now" in page and "Next: 1 item due" in page


def test_htmx_gets_the_item_alone(logged_in):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    response = logged_in.get("/review/", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="review"') and "<html" not in html
    assert "Which dimension does a column-parallel layer split" in html


def test_it_needs_a_login(client, course):
    response = client.get("/review/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
