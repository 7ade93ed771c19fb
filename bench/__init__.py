"""pyinit's benchmark against tini, dumb-init and catatonit (`make bench`, issue 7).

Every scenario runs each init as PID 1 of a fresh PID namespace, round-robin across the inits
in every repetition so that the noise of a shared machine hits all of them alike, and reports
medians and ratios taken within the same run.  Nothing here is imported by pyinit itself.
"""
