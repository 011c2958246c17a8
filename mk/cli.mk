# The operator CLI (bin/cxone-bulk, lua/cxone/bulk/{cli,args,input,csv,output,journal,...}.lua).
#   make demo       mock server + cxone-bulk on examples/demo-contacts.csv (2,000 rows, ~45 s)
#   make demo-cxone the same with --api cxone against the mock's cxone profile (500 rows, ~12 s)
#   make cli-spec   only the CLI's specs (CSV reader, input formats, CLI units and end to end)
DEMO_OUT  ?= build/demo
CLI_SPECS  = spec/csv_spec.lua spec/input_spec.lua $(sort $(wildcard spec/cli_*_spec.lua spec/operator_*_spec.lua))

.PHONY: demo demo-cxone cli-spec

demo: deps all
	@LUA=$(LUA) DEMO_OUT=$(DEMO_OUT) sh examples/demo.sh

# The cxone API profile (docs/cxone.md): discovery, password grant, set-disposition under
# lost answers, exactly once by the read-back (500 rows, ~12 s).
demo-cxone: deps all
	@LUA=$(LUA) DEMO_OUT=$(DEMO_OUT) sh examples/demo-cxone.sh

cli-spec: module mock-bin
	@sh .ci/run-specs "$(LUA)" "$(BUILD)" $(CLI_SPECS)
