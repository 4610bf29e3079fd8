"""The console: the pages people use at the counter (a landing page at `/`, the signed-in
pages under `/app`), server-rendered in Mongolian by default, English on request.

    domain.py     its one Domain (pages only: no events, no tables of its own)
    routes.py     the landing page, sign-in and sign-out, home; includes each role's router
    kit.py        what the role pages share: chrome, session, CSRF, forms, recording
    centre.py     the processing centre's pages (centre_forms.py, centre_reads.py: its
                  forms and reads beyond the first ones in forms.py and queries.py)
    queries.py    the reads the pages show, as frozen values
    forms.py      reading the forms: typed values or the fields at fault
    pages.py      the layout, the navigation per role, the language, rendering
    glossary.py   every word the console shows, in Mongolian and English
    templates/    Jinja2 templates (no visible text of their own: all through the glossary)
    static/       the inlined style sheet and script (allowed by hash)
"""
