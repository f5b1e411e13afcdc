"""Extension singletons, bound to the app in `create_app()` (Flask's app-factory pattern)."""

from __future__ import annotations

from flask import current_app
from flask_caching import Cache
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from api.errors import ProblemApi
from api.models import Base

# Rows are not reloaded after commit: answering with what was just written costs no SELECT.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
api = ProblemApi()
jwt = JWTManager()
cache = Cache()
cors = CORS()
# The default limit is read per request, so it always follows the running app's settings.
limiter = Limiter(
    key_func=get_remote_address,
    default_limits=[lambda: current_app.config["RATELIMIT_DEFAULT"]],
)
