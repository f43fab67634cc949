from idaas.cli import main

main()
