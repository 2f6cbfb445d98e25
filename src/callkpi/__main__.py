from callkpi.cli import main

main()
