import sys

from biomatrix_plugin.demo.run import main

sys.exit(main())
