"""The classroom's pages: /teach/ for a cohort's instructors, /join/ and /classes/ for learners."""
