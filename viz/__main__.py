"""python -m viz"""

from viz.cli import main

if __name__ == "__main__":
    main()
