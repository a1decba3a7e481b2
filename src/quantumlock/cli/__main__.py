from quantumlock.cli import main

main()
