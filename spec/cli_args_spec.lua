-- Command-line parsing of cxone-bulk (lua/cxone/bulk/args.lua).
local args = require "cxone.bulk.args"

local function parse(s)
    local argv = {}
    for w in s:gmatch("%S+") do argv[#argv + 1] = w end
    return args.parse(argv)
end

describe("cxone-bulk arguments", function()
    it("takes the input as --input, -i, --input= or the one positional argument", function()
        assert.equal("a.csv", parse("--input a.csv").input)
        assert.equal("a.csv", parse("-i a.csv").input)
        assert.equal("a.csv", parse("-ia.csv").input)
        assert.equal("a.csv", parse("--input=a.csv").input)
        assert.equal("a.csv", parse("a.csv").input)
        assert.equal("-", parse("-").input)
        assert.equal("-weird", parse("-- -weird").input)
    end)

    it("converts numbers and maps engine options to batch_update names", function()
        local o = assert(parse("--workers 4 --rate=12.5 --burst 3 --max-retries 0 --backoff-base 0.5 "
            .. "--backoff-max 8 --timeout 2 --pause-threshold 0 --batch-id b1 --base-url http://127.0.0.1:1 "
            .. "--token-url http://127.0.0.1:1/t --ca-file /etc/ssl/x.pem --scope s x.csv"))
        assert.same({
            workers = 4, rate = 12.5, burst = 3, max_retries = 0, backoff_base = 0.5, backoff_max = 8,
            timeout = 2, pause_threshold = 0, batch_id = "b1", base_url = "http://127.0.0.1:1",
            token_url = "http://127.0.0.1:1/t", ca_file = "/etc/ssl/x.pem", scope = "s",
        }, args.engine_opts(o))
        assert.equal(math.floor(o.workers), o.workers)
    end)

    it("names the option in every numeric error", function()
        local cases = {
            { "--rate 0 x", '%-%-rate must be a number > 0 and <= 100000 %(got 0%)' },
            { "--rate abc x", '%-%-rate must be a number > 0 and <= 100000, auto or auto:R %(got "abc"%)' },
            { "--rate auto:0 x", '%-%-rate must be auto or auto:R with R > 0 and <= 100000 %(got "auto:0"%)' },
            { "--max-rate 0 x", '%-%-max%-rate must be a number > 0 and <= 100000 %(got 0%)' },
            { "--rate inf x", "%-%-rate must be a number" },
            { "--rate nan x", "%-%-rate must be a number" },
            { "--workers 2.5 x", '%-%-workers must be a whole number >= 1 and <= 256 %(got "2.5"%)' },
            { "--workers 0 x", "%-%-workers must be a whole number >= 1" },
            { "--burst 0.5 x", "%-%-burst must be a number >= 1" },
            { "--max-retries -1 x", "%-%-max%-retries must be a whole number >= 0" },
            { "--timeout 0 x", "%-%-timeout must be a number >= 0.001 and <= 86400" },
            { "--max-retries 2147483648 x", "%-%-max%-retries must be a whole number >= 0 and <= 100" },
            { "--timeout 0.0001 x", "%-%-timeout must be a number >= 0.001" },
            { "--pause-threshold -3 x", "%-%-pause%-threshold must be a number >= 0" },
            { "--backoff-base 5 --backoff-max 1 x", "%-%-backoff%-max %(1%) must be >= %-%-backoff%-base %(5%)" },
        }
        for _, c in ipairs(cases) do
            local o, err = parse(c[1])
            assert.is_nil(o, c[1])
            assert.matches(c[2], err, 1)
        end
    end)

    it("rejects unknown options, missing values, extra files and no input", function()
        local _, err = parse("--nope x")
        assert.equal("unknown option --nope", err)
        _, err = parse("-z x")
        assert.equal("unknown option -z", err)
        _, err = parse("x --rate")
        assert.equal("--rate needs a value", err)
        _, err = parse("a b")
        assert.equal("one input file expected, got 2: a b", err)
        _, err = parse("--input a b")
        assert.matches("not both", err)
        _, err = parse("--quiet")
        assert.matches("^no input", err)
        _, err = parse("--dry-run=yes x")
        assert.equal("--dry-run takes no value", err)
        _, err = parse("--format xml x")
        assert.equal('--format must be one of csv, ids, jsonl (got "xml")', err)
    end)

    it("has no option for credentials", function()
        for _, o in ipairs(args.OPTIONS) do
            assert.is_nil(o.name:find("secret"), o.name)
            assert.is_nil(o.name:find("client"), o.name)
        end
        assert.matches("CXONE_CLIENT_ID and CXONE_CLIENT_SECRET", args.USAGE)
    end)

    it("needs no input for --help or --version", function()
        assert.is_true(parse("--help").help)
        assert.is_true(parse("-h").help)
        assert.is_true(parse("--version").version)
    end)

    it("documents every option in --help", function()
        for _, o in ipairs(args.OPTIONS) do
            assert.truthy(args.USAGE:find("--" .. o.name, 1, true), o.name)
        end
    end)
end)
