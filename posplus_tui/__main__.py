from posplus_tui.cli import main

raise SystemExit(main())
