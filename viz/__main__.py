"""python -m viz"""

from viz.cli import main

main()
