-- Command-line parsing of cxone-bulk (lua/cxone/bulk/args.lua).
local args = require "cxone.bulk.args"
local options = require "cxone.bulk.options"

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
            { "--rate 0 x", '%-%-rate must be a number >= 1e%-06 and <= 100000 %(got 0%)' },
            { "--rate abc x", '%-%-rate must be a number >= 1e%-06 and <= 100000, auto or auto:R %(got "abc"%)' },
            { "--rate auto:0 x", '%-%-rate must be auto or auto:R with R >= 1e%-06 and <= 100000 %(got "auto:0"%)' },
            { "--max-rate 0 x", '%-%-max%-rate must be a number >= 1e%-06 and <= 100000 %(got 0%)' },
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

    it("suggests the closest flag for an unknown option", function()
        local _, err = parse("--rat 5 x")
        assert.equal("unknown option --rat; did you mean --rate?", err)
        _, err = parse("--workrs 2 x")
        assert.equal("unknown option --workrs; did you mean --workers?", err)
        _, err = parse("--summary 2 x") -- the one flag that begins with it
        assert.equal("unknown option --summary; did you mean --summary-json?", err)
        _, err = parse("--xyzzy x")
        assert.equal("unknown option --xyzzy", err)
    end)

    it("fits --help in 100 columns, in the sections an operator looks for", function()
        local usage = args.usage()
        local n = 0
        for line in usage:gmatch("[^\n]*") do
            n = n + 1
            assert.is_true(#line <= 100, ("line %d is %d columns: %s"):format(n, #line, line))
        end
        local last = 0
        for _, title in ipairs({ "Input:", "Target and credentials:", "Rate and retries:", "Outputs:",
            "Safety:" }) do
            local at = usage:find("\n" .. title .. "\n", 1, true)
            assert.is_truthy(at, title)
            assert.is_true(at > last, title .. " out of order")
            last = at
        end
        -- Each flag sits in its section: --rate under "Rate and retries", --journal under "Outputs".
        local function section_of(flag)
            local at = usage:find("\n%s+" .. flag:gsub("%-", "%%-") .. "[ \n]")
            local before = usage:sub(1, at)
            local title
            for t in before:gmatch("\n([%w ]+):\n") do title = t end
            return title
        end
        assert.equal("Rate and retries", section_of("--rate"))
        assert.equal("Outputs", section_of("--journal"))
        assert.equal("Safety", section_of("--dry-run"))
        assert.equal("Target and credentials", section_of("--base-url"))
        assert.equal("Input", section_of("--column"))
    end)

    it("names every environment variable in --help", function()
        local usage = args.usage()
        for _, name in ipairs({ "CXONE_BASE_URL", "CXONE_CLIENT_ID", "CXONE_CLIENT_SECRET",
            "CXONE_ACCESS_KEY_ID", "CXONE_ACCESS_KEY_SECRET", "CXONE_REDIS_PASSWORD" }) do
            assert.is_truthy(usage:find("\n  $" .. name .. " ", 1, true), name)
        end
        for _, d in ipairs(options.LIST) do
            if d.env then assert.is_truthy(usage:find("$" .. d.env, 1, true), d.env) end
        end
    end)

    it("refuses to build --help when a flag has no section", function()
        table.insert(args.OPTIONS, { name = "new-flag", kind = "flag", help = "added without a group" })
        local ok, err = pcall(args.usage)
        table.remove(args.OPTIONS)
        assert.is_false(ok)
        assert.matches("%-%-new%-flag has no valid group", err)
        for _, o in ipairs(args.OPTIONS) do assert.is_string(o.group, o.name) end
        for _, d in ipairs(options.LIST) do
            if d.flag or d.env then assert.is_string(d.group, d.name) end
        end
        assert.is_string(args.usage())
    end)

    it("documents every option in --help", function()
        for _, o in ipairs(args.OPTIONS) do
            assert.truthy(args.USAGE:find("--" .. o.name, 1, true), o.name)
        end
    end)
end)
