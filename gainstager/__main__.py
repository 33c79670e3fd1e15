from gainstager.cli import main

main()
