from osiris.cli.main import main

main()
