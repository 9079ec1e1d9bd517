from orderflow_cli.main import main

main()
