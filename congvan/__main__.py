from congvan.cli import main

main()
