# For type checkers only. parsers/ sits at the repository root (the design card) and is installed as the package
# gainstager.parsers (setuptools package-dir; an editable install maps the name too). mypy cannot map a folder
# to another package name, so it checks parsers/ as the top-level package `parsers`, and this stub tells it
# that gainstager.parsers is that package. Python never reads this file.
from parsers import SessionFormat as SessionFormat
from parsers import als as als
from parsers import base as base
from parsers import by_name as by_name
from parsers import detect as detect
from parsers import formats as formats
from parsers import rpp as rpp
from parsers import suffixes as suffixes
