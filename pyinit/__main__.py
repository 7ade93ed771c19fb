"""python -m pyinit"""

from pyinit.main import main

main()
