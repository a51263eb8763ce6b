"""The classroom: cohorts with a join code, their instructors and learners, and the instructor's
dashboard at /teach/ (progress, per-step answers, misconceptions, item statistics, teach-backs,
labs, exports). The statistics are plain functions in ``stats`` and ``charts``; the views only
gather a cohort's records in a fixed number of queries (``cohort_data``) and call them."""
