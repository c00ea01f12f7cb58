"""The web desk under ``/desk/``: campaign, venue, results board and deadline pages, opened
by signed links the bot hands out (``handlers.desk``).

- ``tokens``: signing links and session cookies (itsdangerous), CSRF tokens;
- ``auth``: who may see which page, decided on the server for every request;
- ``views``: what each page shows, read from the database (no web framework);
- ``web``: the Starlette routes, templates and static files;
- ``ranking_image``: the ranking as a PNG (pushed on 公布, shown on the venue page).
"""
