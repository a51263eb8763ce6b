"""POST /review/items/<id>/suspend/: the item leaves the queue until resumed; nothing is lost."""
from lessons.models import Reveal
from lessons.review.models import ReviewCard, ReviewLog
from tests.review_support import HTMX, step


def test_suspending_from_the_queue_shows_the_next_item(logged_in, learner):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    Reveal.objects.create(learner=learner, step=step("what-is-split"))
    html = logged_in.post(f"/review/items/{step('recall-col-row').pk}/suspend/", **HTMX).content.decode()
    assert "What does each GPU get?" in html  # the new item comes next
    assert ReviewCard.objects.get(step=step("recall-col-row")).suspended
    assert ReviewLog.objects.count() == 1


def test_a_suspended_item_is_listed_in_settings_and_resumes_from_there(logged_in, learner):
    logged_in.post("/lessons/what-tp-splits/recall-col-row/rate/", {"rating": "again"})
    item = step("recall-col-row")
    response = logged_in.post(f"/review/items/{item.pk}/suspend/", {"next": "/review/"})
    assert response["Location"] == "/review/"
    assert "Nothing to review right now" in logged_in.get("/review/").content.decode()
    assert "Resume" in logged_in.get("/review/settings/").content.decode()
    logged_in.post(f"/review/items/{item.pk}/suspend/", {"suspend": "0", "next": "/review/settings/"})
    assert "Which dimension does a column-parallel layer split" in logged_in.get("/review/").content.decode()


def test_a_new_item_can_be_suspended_before_its_first_review(logged_in, learner):
    Reveal.objects.create(learner=learner, step=step("what-is-split"))
    logged_in.post(f"/review/items/{step('what-is-split').pk}/suspend/")
    assert "Nothing to review right now" in logged_in.get("/review/").content.decode()


def test_it_will_not_redirect_off_the_site(logged_in):
    response = logged_in.post(f"/review/items/{step('recall-col-row').pk}/suspend/", {"next": "https://evil.example/"})
    assert response["Location"] == "/review/history/"


def test_only_review_items_can_be_suspended(logged_in):
    assert logged_in.post(f"/review/items/{step('intro').pk}/suspend/").status_code == 404
