from tenohira.cli import main

main()
