# The operator CLI (bin/cxone-bulk, lua/cxone/bulk/{cli,args,input,csv,output,journal,...}.lua).
#   make demo       mock server + cxone-bulk on examples/demo-contacts.csv (2,000 rows, ~45 s)
#   make cli-spec   only the CLI's specs (CSV reader, input formats, CLI units and end to end)
DEMO_OUT  ?= build/demo
CLI_SPECS  = spec/csv_spec.lua spec/input_spec.lua $(sort $(wildcard spec/cli_*_spec.lua))

.PHONY: demo cli-spec

demo: deps all
	@LUA=$(LUA) DEMO_OUT=$(DEMO_OUT) sh examples/demo.sh

cli-spec: module mock-bin
	@sh .ci/run-specs "$(LUA)" "$(BUILD)" $(CLI_SPECS)
