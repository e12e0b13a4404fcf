//! The one table of user-facing messages (Simplified Chinese).
//!
//! Every error a user can cause has a stable kebab-case `code` (used in JSON output, tests and logs)
//! and a Chinese template here. Templates may contain `{name}` placeholders filled by [`render`].
//! Nothing else in the code base spells out user-facing Chinese sentences for errors; a second
//! language would be a second table.

/// (code, Chinese template). Keep sorted by area, then code.
pub static MESSAGES: &[(&str, &str)] = &[
    // ---- filled in by the domain, import, export and CLI modules ----
    // -- command line --
    (
        "cli-import-summary",
        "读取数据 {rows_read} 行：接受 {accepted} 人（新建 {created}，更新 {updated}，无变化 {unchanged}），重复 {duplicates} 行，错误 {errors} 行",
    ),
    (
        "cli-import-dry-run",
        "这是预览（--dry-run），没有写入任何数据。确认无误后去掉 --dry-run 再导入。",
    ),
    (
        "cli-exchange-summary",
        "{source}名单（{county}）：读取 {rows_read} 行，参与比对 {kept} 人，错误 {errors} 行，提示 {warnings} 条，重复 {duplicates} 行；本库 {registry} 人。身份证号相同 {by_id} 人，概率匹配 {by_linkage} 人，信息完全一致 {agreeing} 人。",
    ),
    ("cli-exchange-class", "　{class}：{n} 条"),
    (
        "cli-fhir-done",
        "已导出 {persons} 人、{resources} 个 FHIR 资源到 {file}（{masked}）；已记入审计日志。",
    ),
    (
        "cli-fhir-reason-missing",
        "导出含身份信息的数据须用 --reason 写明原因",
    ),
    (
        "cli-fhir-import-done",
        "FHIR 导入完成：{patients} 个 Patient，关联到已有档案 {linked} 人，新建档案（待评估）{created} 人。",
    ),
    (
        "cli-fhir-import-dry",
        "这是预览（--dry-run），没有写入：{patients} 个 Patient，将关联已有档案 {linked} 人，将新建档案 {created} 人。",
    ),
    (
        "cli-platform-done",
        "已导出{region}的登记 {registrations} 人、转介 {referrals} 条到 {file}（含身份信息，已记入审计日志）。",
    ),
    (
        "cli-fhir-subject-missing",
        "请用 --person 指定一人，或用 --region 指定地区",
    ),
    (
        "cli-fhir-not-found",
        "没有这个人员档案（或不在该地区），没有导出任何数据",
    ),
    (
        "cli-census-summary",
        "年度联合普查（{county}）：{lists} 个部门的名单，本库 {registry} 人，各名单与本库完全一致 {agreeing} 人。每人一条：",
    ),
    (
        "cli-census-list",
        "　{source}名单：读取 {rows_read} 行，参与比对 {kept} 人，错误 {errors} 行，提示 {warnings} 条",
    ),
    (
        "cli-census-list-bad",
        "--list 应写成 部门=文件，如 gongan=公安名单.xlsx；“{value}”不是这样",
    ),
    (
        "cli-exchange-saved",
        "比对结果已保存（比对编号 {run}），登记库未作任何修改；请在“信息比对”页面逐条处理。",
    ),
    (
        "cli-exchange-failed",
        "比对没有进行，未做任何修改：{message}",
    ),
    (
        "cli-exchange-source-unknown",
        "不认识的部门“{source}”，可选：{known}",
    ),
    (
        "cli-row-warning",
        "第 {row} 行【{column}】{message}（{code}），该项不参与比对",
    ),
    ("cli-import-done", "导入完成，已全部写入（一次事务）。"),
    (
        "cli-row-error",
        "第 {row} 行【{column}】{message}（{code}）",
    ),
    (
        "cli-duplicate",
        "第 {row} 行与第 {same_as_row} 行身份证号相同，是同一人，已只导入一次",
    ),
    ("cli-change", "第 {row} 行 {person}　{label}：{old} → {new}"),
    ("cli-more", "……另有 {n} 条未显示（加 --json 可查看全部）"),
    ("cli-import-failed", "导入没有进行，未做任何修改：{message}"),
    (
        "cli-export-done",
        "已导出 {region} 花名册 {count} 人 → {file}",
    ),
    (
        "cli-region-unknown",
        "地区代码 {code} 不存在，可用“jingkang regions find 名称”查询",
    ),
    ("cli-init-done", "数据库已就绪：{db}（地区 {regions} 个）"),
    ("cli-demo-done", "已载入演示数据：{county}"),
    ("cli-summary-header", "花名册汇总 — {region}"),
    ("cli-summary-line", "  {name}（{code}）　{count} 人"),
    ("cli-summary-total", "  合计　{count} 人"),
    ("cli-find-none", "没有找到名称含“{query}”的地区"),
    (
        "cli-villages-done",
        "已导入村（社区）{imported} 个，跳过 {skipped} 个（所属乡镇不在地区库中或代码无效）",
    ),
    ("cli-gen-done", "已生成花名册 {rows} 行 → {file}"),
    // -- record linkage (link) --
    (
        "exchange-region-too-low",
        "您的账号所在地区低于乡镇（街道），不能进行信息比对",
    ),
    ("exchange-source-missing", "请选择名单来自哪个部门"),
    (
        "exchange-taken-on-invalid",
        "名单日期“{text}”应为不晚于今天的 年-月-日，如 2026-10-31",
    ),
    ("exchange-decision-missing", "请选择处理方式"),
    ("exchange-elsewhere", "已在其他地区登记，应办理转入"),
    ("exchange-side-ours", "本库档案"),
    ("exchange-side-other", "本库另一份档案"),
    ("exchange-side-theirs", "对方名单第 {row} 行"),
    ("exchange-side-theirs-none", "对方名单（无）"),
    ("exchange-item-open", "该条目尚未处理，无需撤销"),
    (
        "exchange-item-decided",
        "该条目已处理（{state}），如需改变请先撤销",
    ),
    (
        "exchange-link-person-missing",
        "请选择对应的本库人员后再确认关联",
    ),
    (
        "exchange-link-person-unknown",
        "编号为 {id} 的人员不在本次比对的区县登记库中",
    ),
    (
        "exchange-mapping-form",
        "列名对应“{text}”应写作 表头=字段，如 人员姓名=name",
    ),
    (
        "exchange-mapping-key",
        "列名对应“{text}”中的字段不认识，可用的字段：{keys}",
    ),
    ("link-config-invalid", "匹配配置文件 {file} 有误：{message}"),
    (
        "link-config-key",
        "分块规则中的键“{key}”写法不对：应为“列名”或“列名:sound”“列名:first3”“列名:last8”",
    ),
    ("link-file-unreadable", "无法读取文件 {file}：{message}"),
    (
        "link-column-missing",
        "{file} 缺少列【{column}】（配置文件要求）；表头中有：{found}",
    ),
    ("link-row-invalid", "{file} 第 {row} 行读不出来：{message}"),
    (
        "link-id-missing",
        "{file} 第 {row} 行【{column}】为空，每条记录都要有编号",
    ),
    (
        "link-id-repeated",
        "{file} 第 {row} 行【{column}】“{id}”与第 {first} 行重复，编号不能重复",
    ),
    (
        "cli-link-summary",
        "比较候选对 {compared} 个，判为同一人 {matches} 对（匹配概率 ≥ {threshold}）",
    ),
    (
        "cli-gen-linkage-done",
        "已生成登记库 {registry} 人、部门名单 {list} 人（其中同一人 {pairs} 对）→ {dir}",
    ),
    (
        "cli-link-pair",
        "  {left} ⇄ {right}　概率 {score}　{fields}",
    ),
    (
        "cli-gen-history-done",
        "已生成 {persons} 人的随访史：随访 {followups} 次，登记状态变化 {events} 次，转介 {referrals} 条（{seconds} 秒）",
    ),
    (
        "cli-gen-services-done",
        "已为 {persons} 名服务对象生成康复服务史：计划 {plans} 份，评估 {assessments} 次，服务 {sessions} 次，服务人次 {contacts}（{seconds} 秒）",
    ),
    (
        "cli-gen-services-exist",
        "数据库中已有服务记录，服务史只能生成一次",
    ),
    (
        "cli-gen-history-exists",
        "数据库中已有随访记录，随访史只能在没有随访记录的花名册上生成一次",
    ),
    (
        "cli-worklist-unknown",
        "没有名为“{name}”的工作清单，可选：{names}",
    ),
    ("cli-worklist-written", "已导出{list} {n} 人 → {file}"),
    (
        "cli-audit-ok",
        "审计日志完整：共 {entries} 条，哈希链校验通过",
    ),
    (
        "cli-audit-broken",
        "审计日志校验失败：第 {id} 条记录被修改、删除或插入（此前 {entries} 条正常）",
    ),
    (
        "cli-internal-error",
        "系统内部错误，操作没有完成，未写入部分数据。技术细节已写入日志（stderr）。",
    ),
    ("cli-value-invalid", "参数 {name} 的值无效：{message}"),
    // -- import: rows --
    (
        "sex-id-mismatch",
        "性别与身份证号不符（按身份证号应为{id_sex}），请核对性别或身份证号",
    ),
    (
        "certificate-grade-mismatch",
        "残疾等级与残疾证号最后一位不一致（按残疾证号应为{grade}），请核对",
    ),
    (
        "township-missing",
        "镇街未填写，请填写此人现居住的乡镇（街道）",
    ),
    (
        "township-unknown",
        "“{value}”不是{county}下的乡镇（街道），请使用规范名称，如“{example}”",
    ),
    (
        "township-ambiguous",
        "“{value}”可对应{county}下的多个乡镇（街道），请写全称",
    ),
    (
        "guardian-name-invalid",
        "监护人姓名无效：不能含数字或符号，请填写监护人的真实姓名",
    ),
    (
        "guardian-name-missing",
        "填写了监护人电话但没有监护人姓名，请补填监护人姓名",
    ),
    (
        "person-outside-scope",
        "此身份证号已在其他地区登记，不能在本区县导入；如此人已迁入本区县，请办理迁移转介",
    ),
    ("row-invalid", "此行数据无效，请核对"),
    // -- hand entry (the person form) --
    (
        "entry-person-exists",
        "此身份证号已有档案（编号 {id}），请打开该档案修改，不要重复登记",
    ),
    (
        "entry-outside-scope",
        "此身份证号已在其他地区登记，不能在本地区重复登记；如此人已迁入，请办理迁移转介",
    ),
    (
        "entry-region-too-low",
        "您的账号属于社区（村）一级，不能登记服务对象，请由所属乡镇（街道）登记",
    ),
    // -- import: whole file (nothing was imported) --
    (
        "header-not-found",
        "在表格前30行中找不到表头，缺少以下列：{columns}。请确认使用的是花名册（附件3）模板",
    ),
    (
        "list-header-not-found",
        "在表格前30行中找不到名单的表头{columns}：须有“姓名”列和至少一个其他能认出的列（如身份证号、性别、出生日期、地址）；列名不同的，请用“列名=字段”告诉系统",
    ),
    (
        "county-unknown",
        "区县代码 {code} 不存在，可用“jingkang regions find 名称”查询代码",
    ),
    (
        "county-not-county",
        "地区 {code} 不是区县或乡镇（街道），花名册须按区县或乡镇（街道）导入",
    ),
    ("file-not-found", "找不到文件，请检查路径"),
    (
        "file-type-unsupported",
        "不支持的文件类型“.{ext}”，请使用 .xlsx、.xls 或 .csv 文件",
    ),
    (
        "file-unreadable",
        "文件无法读取：可能已损坏、加密或不是 Excel/CSV 文件。请用 Excel 打开后另存为 .xlsx 再试",
    ),
    ("file-no-sheet", "工作簿中没有工作表"),
    (
        "internal-error",
        "系统内部错误，本次操作未做任何修改。请联系管理员",
    ),
    // -- domain: 残疾证号 --
    (
        "certificate-category-invalid",
        "残疾证号第19位（残疾类别）应为1至7的数字，请对照残疾证核对",
    ),
    (
        "certificate-characters",
        "残疾证号只能由数字和字母X组成（补发证末尾的B1、B2等可保留），请删除其他文字或符号",
    ),
    (
        "certificate-grade-invalid",
        "残疾证号第20位（残疾等级）应为1至4的数字，请对照残疾证核对",
    ),
    (
        "certificate-id-invalid",
        "残疾证号前18位应为持证人身份证号，但这部分不是有效的身份证号，请对照残疾证核对",
    ),
    (
        "certificate-id-mismatch",
        "残疾证号前18位与此人的身份证号不一致，请核对是否填错了人或填错了号码",
    ),
    (
        "certificate-length",
        "残疾证号应为20位（身份证号18位+残疾类别1位+残疾等级1位），请核对是否多填或漏填",
    ),
    ("certificate-missing", "残疾证号未填写"),
    (
        "certificate-not-mental",
        "残疾类别不是精神残疾或多重残疾（残疾证号第19位应为6或7），本系统只登记这两类，请对照残疾证核对",
    ),
    (
        "certificate-not-text-precision-lost",
        "残疾证号被表格软件当成数字保存，后几位已经丢失（如显示为5.0011E+19）。请把该列设为“文本”格式后按残疾证重新录入",
    ),
    // -- domain: 残疾等级 --
    (
        "grade-invalid",
        "残疾等级应为一级至四级，可写作“3”“三级”“精神三级”等，请核对",
    ),
    ("grade-missing", "残疾等级未填写"),
    // -- domain: 身份证号 --
    (
        "id-characters",
        "身份证号只能由数字组成，最后一位可以是X，请删除其他文字或符号",
    ),
    (
        "id-checksum",
        "身份证号校验位错误，请核对最后一位，或检查前面是否有数字填错",
    ),
    (
        "id-invalid-date",
        "身份证号中的出生日期（第7至14位）不是有效日期，或晚于今天、早于1900年，请核对",
    ),
    (
        "id-length",
        "身份证号应为18位（旧证为15位），请核对是否多填或漏填",
    ),
    ("id-missing", "身份证号未填写"),
    (
        "id-not-text-precision-lost",
        "身份证号被表格软件当成数字保存，后几位已经丢失（如显示为5.0011E+17或末尾变成000）。请把该列设为“文本”格式后按证件重新录入",
    ),
    // -- domain: 姓名 --
    (
        "name-invalid",
        "姓名只能包含汉字或英文字母，少数民族姓名中间可用“·”分隔，不能包含数字或其他符号",
    ),
    ("name-missing", "姓名未填写"),
    (
        "name-too-long",
        "姓名超过30个字，请核对是否把其他内容填进了姓名栏",
    ),
    // -- domain: 联系电话 --
    (
        "phone-invalid",
        "电话号码无法识别，请填写11位手机号或带区号的固定电话（如023-48281234），多个号码用“/”分隔",
    ),
    ("phone-missing", "电话号码未填写"),
    (
        "phone-no-area-code",
        "固定电话缺少区号，请在号码前加上区号（如023-48281234）",
    ),
    // -- domain: 行政区划代码 --
    (
        "region-code-invalid",
        "行政区划代码应为6位（省、市、县）、9位（乡镇街道）或12位（村、社区）数字，请核对",
    ),
    ("region-code-missing", "行政区划代码未填写"),
    // -- accounts and login --
    ("password-too-short", "密码至少需要 10 个字符"),
    (
        "password-classes",
        "密码需包含大写字母、小写字母、数字、符号中的至少三类",
    ),
    ("password-contains-username", "密码不能包含用户名"),
    ("password-unchanged", "新密码不能与原密码相同"),
    ("password-mismatch", "两次输入的新密码不一致"),
    ("password-wrong", "原密码不正确"),
    (
        "username-invalid",
        "用户名需为 3–32 位英文字母、数字或 . _ -",
    ),
    ("username-taken", "用户名已被使用"),
    ("display-name-missing", "请填写姓名或单位"),
    ("user-unknown", "用户 {username} 不存在"),
    ("role-unknown", "角色“{role}”不存在，可选：{roles}"),
    ("region-unknown", "地区代码不存在"),
    ("cli-org-added", "已添加单位：{name}（{region}）"),
    (
        "organisation-name-invalid",
        "单位名称不能为空，且不超过100个字",
    ),
    ("organisation-taken", "该地区已有同名单位"),
    (
        "organisation-unknown",
        "单位不存在，请先在“用户管理”中添加单位",
    ),
    (
        "organisation-region-mismatch",
        "用户所属地区不在该单位的地区范围内，请选择本地区或上级地区的单位",
    ),
    (
        "role-invalid",
        "角色代码无效，可选：admin、civil、township、worker、doctor、hospital、police、disability、health、auditor",
    ),
    ("login-invalid", "用户名或密码不正确"),
    (
        "login-locked",
        "连续登录失败次数过多，账号已锁定 15 分钟，请稍后再试或联系管理员",
    ),
    ("login-disabled", "账号已停用，请联系管理员"),
    ("login-rate-limited", "登录尝试过于频繁，请稍后再试"),
    ("totp-invalid", "动态验证码不正确或已过期"),
    (
        "totp-locked",
        "动态验证码错误次数过多，请稍后再试；如非本人操作请联系管理员",
    ),
    ("notice-login-locked-title", "账号登录已锁定"),
    (
        "notice-login-locked",
        "账号 {username} 从 {client} 连续输错{step}，该地址已被锁定至 {until}（其他地址不受影响）。如非本人操作，请核查。",
    ),
    (
        "password-guessable",
        "密码太容易被猜到（如常见单词、键盘顺序、年份或用户名的变形），请换一个更难猜的密码",
    ),
    ("csrf-invalid", "页面已过期或来源不明，请刷新页面后重试"),
    ("session-expired", "登录已超时（30 分钟无操作），请重新登录"),
    ("forbidden", "您的角色无权进行此操作"),
    (
        "unauthenticated",
        "缺少或无效的访问令牌：请在 Authorization 头中提供 Bearer 令牌",
    ),
    (
        "account-disabled",
        "此账号已停用，其访问令牌不再有效，请联系系统管理员",
    ),
    (
        "bad-request",
        "请求格式不正确：请检查路径、查询参数和请求正文",
    ),
    ("query-invalid", "查询参数不正确：请检查参数的名称和取值"),
    ("body-invalid", "请求正文不正确：须为符合接口说明的 JSON"),
    ("method-not-allowed", "此地址不支持该请求方法"),
    (
        "media-type-unsupported",
        "请求正文的类型（Content-Type）不正确",
    ),
    ("too-many-requests", "请求过于频繁，请稍后再试"),
    ("not-found", "没有找到该页面或记录（或不在您的管辖范围内）"),
    ("reveal-reason-missing", "请填写查看原因"),
    (
        "export-reason-missing",
        "请填写导出原因（导出记入审计日志）",
    ),
    (
        "services-export-days-invalid",
        "服务日期有误：请填写起止日期（年-月-日），且开始日期不晚于结束日期",
    ),
    ("indicator-unknown", "没有这项指标，请从“工作指标”页进入"),
    ("indicator-part-unknown", "清单类别只能是分子、分母或未达"),
    (
        "xlsx-part-too-large",
        "文件无法导入：其中的“{part}”解压后超过 {limit}（可能是损坏或伪造的文件）",
    ),
    (
        "xlsx-ratio",
        "文件无法导入：其中的“{part}”压缩比超过 {ratio} 倍（可能是压缩炸弹）",
    ),
    (
        "xlsx-malformed",
        "文件无法导入：其中的“{part}”格式不正确，请用 Excel 或 WPS 打开后另存为 .xlsx 再试",
    ),
    (
        "xlsx-bad-reference",
        "文件无法导入：“{part}”第 {row} 行附近的单元格位置“{reference}”超出表格范围（列 A–XFD，行 1–1048576），文件可能已损坏，请用 Excel 或 WPS 打开后另存为 .xlsx 再试",
    ),
    (
        "xlsx-too-many-strings",
        "文件无法导入：文本单元格（共享字符串）超过 {limit} 个，请拆分后分批导入",
    ),
    (
        "xlsx-strings-too-large",
        "文件无法导入：文本内容合计超过 {limit}，请拆分后分批导入",
    ),
    (
        "xls-bad-sheet",
        "文件无法导入：旧版 .xls 表格已损坏（工作表 {sheet} 的位置超出文件范围），请在 Excel 中打开后另存为 .xlsx 再导入",
    ),
    (
        "xls-too-large",
        "文件无法导入：旧版 .xls 表格的单元格超过 {limit} 个，请另存为 .xlsx 或 .csv 后再导入",
    ),
    (
        "file-too-many-rows",
        "文件无法导入：超过 {limit} 行，请拆分后分批导入",
    ),
    (
        "file-too-many-columns",
        "文件无法导入：第 {row} 行超过 {limit} 列，请删除多余的列后再导入",
    ),
    ("cli-import-warning", "提示　第 {row} 行：{message}"),
    (
        "import-busy",
        "另一项导入（{file}，{since} 开始）正在进行：同一时间只能进行一项导入，请稍后再试",
    ),
    (
        "formula-no-value",
        "单元格 {cell} 是公式，但文件中没有保存计算结果，已按空值读取：请用 Excel 或 WPS 打开、保存后再导入，或把公式改为数值",
    ),
    (
        "cell-too-long",
        "“{column}”的内容超过 {limit}，本行未导入：请核对该单元格（可能粘贴了整段文字或错误数据）",
    ),
    (
        "key-unreadable",
        "无法读取密钥文件 {file}：请检查路径（--key-file 或 JINGKANG_KEY_FILE）和权限",
    ),
    (
        "key-malformed",
        "密钥文件 {file} 内容不正确（应为 64 位十六进制字符），请使用原来的密钥文件",
    ),
    (
        "key-exposed",
        "密钥文件 {file} 的权限过宽（其他用户可读），请执行 chmod 600 后再启动",
    ),
    (
        "key-mismatch",
        "密钥文件 {file} 与此数据库不匹配：请使用创建此数据库时的密钥文件，否则加密数据和审计见证都无法核验",
    ),
    (
        "key-rotation-unfinished",
        "密钥轮换尚未完成：请用原密钥重新运行 jingkang key rotate --new-key-file 新密钥文件，完成轮换（会从中断处继续）后再用新密钥启动",
    ),
    (
        "cli-sealed",
        "已加密此数据库中尚未加密的敏感信息：人员 {persons} 条、监护人 {guardians} 条、修改记录 {history} 条",
    ),
    (
        "cli-key-rotated",
        "密钥轮换完成：重新加密人员 {persons} 条、监护人 {guardians} 条、修改记录 {history} 条。今后请使用新密钥文件 {file}（--key-file），旧密钥文件可在确认备份后销毁",
    ),
    (
        "cli-key-rotate-same",
        "新密钥文件 {file} 与当前密钥相同，无需轮换",
    ),
    (
        "cli-key-created",
        "已在 {file} 创建密钥文件（权限 600）。生产环境请把密钥放在数据目录以外（--key-file），并与数据库备份分开保存；丢失密钥将无法读取加密数据。",
    ),
    (
        "cli-backup-done",
        "已备份到 {file}（{mb} MB，审计记录 {entries} 条，最新哈希 {head}…，已核验），清单见 {file}.manifest.json",
    ),
    (
        "cli-restore-done",
        "已把 {file} 恢复到 {db} 并完成迁移，下面核验审计日志：",
    ),
    (
        "cli-restore-not-empty",
        "目标数据库 {db} 不是空的，未做任何改动：请恢复到新的空数据库，或确认后加 --force 覆盖",
    ),
    (
        "cli-restore-not-backup",
        "{file} 不是本系统的备份文件（或与其清单不符、已损坏），未做任何改动",
    ),
    ("notice-backup-failed-title", "定时备份失败"),
    (
        "notice-backup-failed",
        "{at} 的定时备份没有完成，请检查备份目录的空间和权限；详情见服务日志。",
    ),
    (
        "cli-audit-witness-agrees",
        "审计见证：{checkpoints} 个检查点均与审计链一致",
    ),
    (
        "cli-audit-witness-none",
        "审计见证：{file} 中尚无检查点（服务运行时每分钟写入一次）",
    ),
    (
        "cli-audit-truncated",
        "审计日志被截短：见证于 {at} 记录了 {seen} 条，现仅有 {entries} 条，从第 {first} 条起缺失（最新记录被删除，或恢复了较旧的备份）",
    ),
    (
        "cli-audit-diverged",
        "审计日志与见证不符：第 {entry} 条不是见证于 {at} 记录的那一条（审计日志被改写）",
    ),
    (
        "cli-audit-witness-forged",
        "审计见证文件 {file} 第 {line} 行无法用密钥核验（被改动或不是本系统写入的）",
    ),
    ("upload-invalid", "上传失败：传输中断或格式不正确，请重试"),
    (
        "upload-too-large",
        "上传的文件超过 {limit} 的上限：请拆分后分批上传，或由管理员用命令行导入",
    ),
    (
        "upload-missing",
        "请选择要导入的花名册文件（.xlsx、.xls 或 .csv）",
    ),
    (
        "upload-expired",
        "上传的文件已过期（超过 1 小时）或已导入，请重新上传",
    ),
    (
        "form-invalid",
        "提交的内容不完整或格式不对，请检查后重新提交",
    ),
    ("date-invalid", "日期格式应为 年-月-日，如 2026-11-25"),
    (
        "cli-user-added",
        "已创建用户 {username}（{role}，{region}）",
    ),
    (
        "cli-user-password",
        "初始密码（只显示这一次，首次登录须修改）：{password}",
    ),
    (
        "cli-user-reset",
        "已重置用户 {username} 的密码，首次登录须修改",
    ),
    (
        "cli-user-disabled",
        "已停用用户 {username}，其会话和 API 令牌已全部失效",
    ),
    (
        "cli-token-created",
        "API 令牌（只显示这一次，请妥善保存）：{token}",
    ),
    ("cli-serve-listening", "精康已启动：{scheme}://{addr}/"),
    (
        "cli-tls-invalid",
        "无法使用 TLS 证书或私钥（{files}）：文件不存在、不是 PEM 格式，或证书与私钥不匹配",
    ),
    (
        "filing-region-not-township",
        "报表按镇街填报，请选择一个镇（街道）。",
    ),
    (
        "filing-value-invalid",
        "第 {key} 列“{label}”须为 0 至 {max} 的整数。",
    ),
    (
        "filing-column-computed",
        "第 {key} 列“{label}”由系统根据数据计算，不能手工填写。",
    ),
    ("filing-column-unknown", "报表没有第 {key} 列。"),
    ("filing-name-missing", "请填写签名（姓名，50 字以内）。"),
    (
        "filing-signed",
        "本季度报表已签发，不能再修改；如数据有误，请发起更正（生成新版本）。",
    ),
    (
        "filing-not-draft",
        "报表{state}，不能修改；如需修改，请审核人退回。",
    ),
    ("filing-state", "报表当前{state}，不能进行这一步。"),
    ("filing-return-reason", "退回时请写明原因。"),
    (
        "filing-correct-latest-signed",
        "只能对最新的已签发版本发起更正。",
    ),
    (
        "cli-quarter-invalid",
        "季度“{text}”无法识别，请写成 2025Q3 的形式（年份加 Q 加 1–4）。",
    ),
    (
        "cli-month-invalid",
        "月份“{text}”无法识别，请写成 2026-08 的形式。",
    ),
    ("cli-report-written", "已写出{name}（{quarter}）：{file}"),
    (
        "cli-report-header",
        "{region}{name}，{quarter}（截至 {end}）；标“手填”的列须在报表中填写：",
    ),
    (
        "cli-serve-demo-account",
        "演示账号：{username}（{role}，{region}）初始密码 {password}（首次登录须修改）",
    ),
    // -- care: 登记状态 --
    (
        "registration-illegal",
        "当前登记状态为“{state}”，不能“{event}”。可进行的操作：{allowed}",
    ),
    ("registration-reason-missing", "请填写原因"),
    (
        "registration-note-missing",
        "结案原因为“其他”时，请填写说明",
    ),
    ("registration-reason-too-long", "原因或说明不超过 500 字"),
    ("registration-close-reason-missing", "请选择结案原因"),
    (
        "exchange-needs-registry-role",
        "合并档案、新建档案须由街镇或民政的登记人员办理",
    ),
    ("merge-line", "档案 {absorbed} 并入档案 {survivor}"),
    (
        "merge-line-undone",
        "档案 {absorbed} 并入档案 {survivor}（已撤销）",
    ),
    (
        "census-needs-lists",
        "年度联合普查须同时比对至少两个部门的名单",
    ),
    ("census-source-twice", "{source}的名单只能提供一份"),
    ("census-file", "{list}名单：{message}"),
    ("census-missing-from", "不在{lists}名单上"),
    ("census-seen-on", "见于{lists}名单"),
    (
        "fhir-import-invalid",
        "FHIR 文件没有导入，未做任何修改。共 {n} 处问题：\n{problems}",
    ),
    ("fhir-import-problem", "{path}：{what}"),
    ("fhir-import-unreadable", "读不了这个文件：{message}"),
    (
        "fhir-import-not-bundle",
        "这不是 FHIR R4 的 Bundle（JSON 格式）",
    ),
    (
        "fhir-import-patient",
        "第 {entry} 个条目（Patient）【{column}】{message}",
    ),
    (
        "fhir-import-elsewhere",
        "第 {entry} 个条目（Patient）的身份证号已在其他地区建档，应办理转移",
    ),
    (
        "fhir-import-twice",
        "第 {entry} 个条目（Patient）与前面的条目身份证号相同",
    ),
    (
        "platform-import-invalid",
        "交换文件没有导入，未做任何修改。共 {n} 处问题：\n{problems}",
    ),
    ("platform-import-missing", "{at}：缺少或格式不对"),
    ("platform-import-code", "{at}：不认识的代码“{code}”"),
    (
        "platform-import-not-json",
        "这不是 JSON 格式的交换文件：{message}",
    ),
    (
        "platform-import-version",
        "交换文件的格式或版本不支持（文件：{format} {version}；本系统：{ours}）",
    ),
    ("platform-import-id", "{at}：身份证号无效"),
    ("platform-import-entry", "{at}【{column}】{message}"),
    (
        "platform-import-referral-person",
        "{at}：此人不在本县登记库，这类转介也不能带未登记的人员",
    ),
    (
        "cli-platform-import-done",
        "交换文件已导入：本县登记 {registrations} 人，状态一致 {agreeing} 人，状态不同 {differing} 人（请在档案中核实办理），新建档案（待评估）{created} 人，已在外地建档 {elsewhere} 人；新转介 {referrals} 条已进入待接收（之前已导入 {known} 条）。",
    ),
    (
        "cli-platform-import-dry",
        "这是预览（--dry-run），没有写入：本县登记 {registrations} 人，状态一致 {agreeing} 人，状态不同 {differing} 人，将新建档案 {created} 人，已在外地建档 {elsewhere} 人；将收到新转介 {referrals} 条（之前已导入 {known} 条）。",
    ),
    ("merge-same", "保留的档案与并入的档案不能是同一份"),
    ("merge-already", "档案 {id} 已并入其他档案，不能再合并"),
    ("merge-field-unknown", "不认识的字段“{field}”"),
    ("merge-outside-scope", "合并后的现居住地不在您的管辖范围内"),
    ("merge-undone", "该合并已经撤销"),
    (
        "exchange-merge-class",
        "只有“疑似重复建档”的两份档案可以合并",
    ),
    ("exchange-merge-survivor", "请在两份档案中选择保留的一份"),
    (
        "exchange-create-class",
        "只有“对方名单有、本系统无”的人员可以新建档案",
    ),
    (
        "exchange-create-outside",
        "所填镇街不在您的管辖范围内，不能在此建档",
    ),
    (
        "exchange-create-exists",
        "该身份证号已有档案（档案号 {id}），请改用“确认关联”",
    ),
    (
        "exchange-create-elsewhere",
        "该身份证号已在其他地区建档，应办理转移，不能在此新建",
    ),
    (
        "exchange-create-used",
        "新建的档案已有修改、随访、服务或状态变更记录，不能撤销；如建档有误，请结案处理",
    ),
    (
        "registration-merged",
        "本档案是重复档案，已并入另一档案；如合并有误，请在信息比对中撤销合并",
    ),
    // -- care: 随访 --
    ("followup-field-unknown", "表中没有字段“{field}”"),
    ("followup-field-missing", "【{label}】未填写"),
    ("followup-field-one-value", "【{label}】只能填一个值"),
    (
        "followup-date-invalid",
        "【{label}】“{value}”不是有效日期，格式应为 年-月-日，如 2026-11-25",
    ),
    ("followup-date-future", "【{label}】不能晚于今天"),
    (
        "followup-option-unknown",
        "【{label}】没有“{value}”这一选项",
    ),
    (
        "followup-count-invalid",
        "【{label}】应为 0 至 999 的整数，“{value}”不是",
    ),
    (
        "followup-number-invalid",
        "【{label}】应为不小于 0 的数字，“{value}”不是",
    ),
    ("followup-text-too-long", "【{label}】不超过 {max} 字"),
    (
        "followup-drug-name-missing",
        "{section}填写了剂量，但【{label}】未填写",
    ),
    ("followup-death-after-visit", "【{label}】不能晚于随访日期"),
    ("followup-next-not-after-visit", "【{label}】应晚于随访日期"),
    (
        "followup-next-too-late",
        "【{label}】不能晚于 {latest}（{why}规定的最晚随访日期），可以提前",
    ),
    ("followup-errors", "表中有 {n} 处需要修改，第一处：{first}"),
    (
        "followup-form-broken",
        "随访表定义文件有误，暂时不能填写随访，请联系管理员",
    ),
    // -- care: 应急处置, notifications, outbox --
    (
        "emergency-time-invalid",
        "【{label}】“{value}”不是有效时间，格式应为 年-月-日 时:分，如 2026-11-25 09:30",
    ),
    (
        "emergency-late-reason-missing",
        "事件发生已超过 24 小时，请填写【{label}】",
    ),
    (
        "agreement-signatory-missing",
        "请勾选本人签署或填写签署的监护人姓名",
    ),
    ("agreement-validity-invalid", "【{label}】应晚于签署日期"),
    (
        "agreement-validity-too-long",
        "【{label}】不能超过签署日期后 {years} 年",
    ),
    (
        "agreement-file-empty",
        "请选择协议扫描件（PDF、JPG 或 PNG）",
    ),
    (
        "agreement-file-too-large",
        "扫描件超过 10 MB，请降低分辨率后重新扫描",
    ),
    (
        "agreement-file-type",
        "扫描件须为 PDF、JPG 或 PNG 文件（按文件内容判断，改扩展名无效）",
    ),
    (
        "referral-illegal",
        "转介当前为“{state}”，不能“{event}”。可进行的操作：{allowed}",
    ),
    (
        "referral-region-invalid",
        "接收地区不存在或级别不对：社区的转介须至乡镇（街道）或社区（村），其他转介须至区县或以下",
    ),
    (
        "referral-kind-unknown",
        "转介类型不存在，可选：hospital_to_community、relapse、employment、transfer、between_sites",
    ),
    (
        "referral-same-region",
        "接收地区与服务对象现居住地相同，无需转介",
    ),
    (
        "referral-incomplete",
        "转介材料不全，缺少：{missing}（每项上传扫描件或填写内容）",
    ),
    (
        "referral-document-unknown",
        "“{kind}”不需要材料“{slot}”，所需材料：{allowed}",
    ),
    (
        "referral-document-long",
        "随附材料“{slot}”的填写内容超过 20000 字，请改为上传扫描件",
    ),
    (
        "referral-files-too-large",
        "随附文件合计超过 40 MB（至“{slot}”），请降低扫描分辨率后重新上传",
    ),
    ("referral-file-empty", "文件为空"),
    (
        "referral-file-too-large",
        "超过 10 MB，请降低分辨率后重新扫描",
    ),
    (
        "referral-file-type",
        "须为 PDF、JPG 或 PNG 文件（按文件内容判断，改扩展名无效）",
    ),
    (
        "referral-file-invalid",
        "随附材料“{slot}”的文件“{file}”{problem}",
    ),
    ("referral-contact-invalid", "发出方联系信息有误：{problems}"),
    (
        "referral-document-shape",
        "随附材料“{slot}”须提供 text（填写内容）或 content_base64（Base64 编码的扫描件）之一",
    ),
    ("referral-unit-missing", "请填写发出单位"),
    ("referral-unit-long", "发出单位不能超过 100 字"),
    ("referral-contact-missing", "请填写联系人"),
    ("referral-contact-long", "联系人不能超过 50 字"),
    (
        "cli-referrals-expired",
        "已将 {n} 条逾期未处理的转介标为“超时”",
    ),
    ("referral-reason-missing", "退回转介请填写原因"),
    (
        "referral-assessment-missing",
        "“{kind}”须有近 {days} 天内的{domain}评估结果，请先在服务对象页面完成评估",
    ),
    ("service-item-invalid", "请选择服务项目"),
    (
        "service-mode-invalid",
        "请选择服务方式（机构、居家、社区或线上）",
    ),
    (
        "service-date-invalid",
        "日期“{date}”格式不对，应为 年-月-日",
    ),
    (
        "service-date-future",
        "日期 {date} 晚于今天，服务记录只能在服务之后填写",
    ),
    ("service-date-missing", "请至少选择一个服务日期"),
    ("service-too-many-dates", "一次最多填写 {max} 个日期"),
    ("service-time-invalid", "时间格式应为 时:分，如 09:30"),
    ("service-end-before-start", "结束时间应晚于开始时间"),
    ("service-staff-missing", "请填写服务人员"),
    ("service-participants-missing", "请至少选择一名参加者"),
    (
        "service-too-many-participants",
        "一次服务最多 {max} 名参加者",
    ),
    (
        "service-participant-unknown",
        "参加者中有 {n} 人不在您的辖区或不存在，未保存",
    ),
    // -- family support (家属护理培训, 喘息服务, 家属互助小组, 同伴支持者) --
    ("family-label-training-date", "培训日期"),
    ("family-label-training-topic", "培训主题"),
    ("family-label-trainer", "授课人"),
    ("family-label-respite-from", "开始日期"),
    ("family-label-respite-to", "结束日期"),
    ("family-label-provider", "服务提供方"),
    ("family-label-notes", "备注"),
    ("family-label-group-name", "小组名称"),
    ("family-label-facilitator", "带领人"),
    ("family-label-group-started", "成立日期"),
    ("family-label-group-left", "退出日期"),
    ("family-label-meeting-date", "活动日期"),
    ("family-label-meeting-topic", "活动主题"),
    ("family-label-peer-name", "同伴支持者姓名"),
    ("family-label-peer-trained", "培训合格日期"),
    ("family-missing", "请填写{label}"),
    ("family-too-long", "{label}最多 {max} 个字"),
    (
        "family-date-invalid",
        "{label}“{date}”格式不对，应为 年-月-日",
    ),
    (
        "family-date-future",
        "{label} {date} 晚于今天，只能填写已经发生的日期",
    ),
    ("family-region-missing", "请选择乡镇（街道）"),
    (
        "family-region-invalid",
        "地区“{code}”不是乡镇（街道）或社区（村），请选择本辖区的乡镇（街道）",
    ),
    (
        "family-region-outside",
        "地区“{code}”不在您的辖区，请选择本辖区的乡镇（街道）",
    ),
    (
        "family-training-hours",
        "培训时长应为 0.5 至 24 小时，以半小时为单位",
    ),
    ("family-attendees-missing", "请至少选择一名参加培训的家属"),
    ("family-too-many", "一次最多 {max} 人"),
    ("family-member-name-missing", "第 {n} 位家属的姓名未填写"),
    (
        "family-member-name-too-long",
        "第 {n} 位家属的姓名最多 {max} 个字",
    ),
    (
        "family-relation-invalid",
        "第 {n} 位家属的关系应为 父母、配偶、子女、兄弟姐妹 或 其他",
    ),
    (
        "family-member-joined-invalid",
        "第 {n} 位家属的入组日期格式不对，应为 年-月-日",
    ),
    (
        "family-member-joined-future",
        "第 {n} 位家属的入组日期 {date} 晚于今天",
    ),
    (
        "family-member-before-start",
        "第 {n} 位家属的入组日期 {joined} 早于小组成立日期 {date}",
    ),
    ("family-member-duplicate", "{name} 已是本小组的成员"),
    (
        "family-member-unknown",
        "要退出的成员中有 {n} 人不是本小组的在组成员，未保存",
    ),
    (
        "family-member-left-before-joined",
        "退出日期不能早于该成员的入组日期",
    ),
    ("family-members-nothing", "请选择要加入或退出小组的成员"),
    ("family-person-missing", "请选择服务对象"),
    (
        "family-persons-unknown",
        "{n} 名服务对象不在您的辖区或不存在，未保存",
    ),
    ("family-respite-order", "结束日期 {to} 早于开始日期 {from}"),
    (
        "family-respite-hours",
        "服务时长应大于 0、以半小时为单位，且不超过所跨 {days} 天的 {max} 小时",
    ),
    (
        "family-meeting-attendees-missing",
        "请至少勾选一名出席的成员",
    ),
    (
        "family-meeting-before-start",
        "活动日期 {held} 早于小组成立日期 {date}",
    ),
    (
        "family-meeting-attendee-unknown",
        "出席者中有 {n} 人不是本小组在 {date} 的在组成员，未保存",
    ),
    ("family-peer-status-invalid", "状态应为“在岗”或“停止”"),
    (
        "family-peer-hours",
        "服务时长应为 0 至 {max} 小时，以半小时为单位",
    ),
    ("family-peer-nothing", "请填写新增的服务时长或选择新的状态"),
    ("plan-goals-missing", "请填写康复目标"),
    (
        "plan-items-invalid",
        "请至少选择一项服务，每项每月 1 至 31 次",
    ),
    ("plan-responsible-missing", "请填写责任社工"),
    ("plan-review-before-start", "评估复核日期应晚于计划开始日期"),
    (
        "plan-signature-incomplete",
        "签字日期和签字人（本人或监护人）须同时填写",
    ),
    ("plan-signed-future", "签字日期不能晚于今天"),
    ("plan-start-missing", "请填写计划开始日期"),
    // -- institutions, staff (SPEC §7) --
    (
        "institution-name-invalid",
        "请填写机构名称（不超过 100 字）",
    ),
    ("institution-kind-unknown", "请选择机构类型"),
    (
        "institution-region-invalid",
        "所在地区不在本辖区内或不存在，请选择本辖区的区县、街镇或社区/村",
    ),
    ("institution-address-missing", "请填写机构地址"),
    (
        "institution-capacity-invalid",
        "服务容量应为 0 至 100000 之间的整数",
    ),
    ("institution-operator-missing", "请填写运营单位名称"),
    (
        "institution-opened-future",
        "开业日期晚于今天：尚未开业的机构请选“筹建中”",
    ),
    ("institution-status-unknown", "请选择运营状态"),
    ("institution-unknown", "机构不存在或不在本辖区内"),
    ("uscc-empty", "请填写运营单位的统一社会信用代码"),
    (
        "uscc-spreadsheet-number",
        "统一社会信用代码被表格当成了数字，位数已丢失，请按文本重新填写",
    ),
    ("uscc-length", "统一社会信用代码应为 18 位"),
    (
        "uscc-character",
        "统一社会信用代码只含数字和大写字母（不用 I、O、Z、S、V）",
    ),
    (
        "uscc-region",
        "统一社会信用代码第 3 至 8 位应为行政区划代码（数字）",
    ),
    (
        "uscc-checksum",
        "统一社会信用代码校验位不对，请核对是否抄错",
    ),
    ("user-site-region-mismatch", "该机构不在此用户的地区内"),
    (
        "cli-user-site",
        "用户 {username} 的所属机构已更新，需重新登录",
    ),
    ("contract-region-invalid", "购买地区不在本辖区内或不存在"),
    ("contract-buyer-missing", "请填写购买方"),
    ("contract-provider-missing", "请填写承接方名称"),
    (
        "contract-period-invalid",
        "服务期限不对：结束日期不能早于开始日期，期限不超过 5 年",
    ),
    ("contract-budget-invalid", "合同金额应为大于 0 的整数（元）"),
    (
        "contract-standard-invalid",
        "人均标准应为大于 0 的整数（元/人/年）",
    ),
    (
        "contract-planned-invalid",
        "计划服务人数应为不小于 0 的整数",
    ),
    (
        "cli-instruments-invalid",
        "评估量表目录 {dir} 无法使用，没有启动：{detail}",
    ),
    (
        "cli-indicators-invalid",
        "指标文件 {file} 无法使用，没有启动：{detail}",
    ),
    ("site-not-operating", "该机构不在运营中，不能接收服务对象"),
    (
        "site-persons-unknown",
        "有 {n} 名服务对象不在本辖区内或不存在",
    ),
    ("staff-name-invalid", "请填写工作人员姓名（不超过 50 字）"),
    ("staff-position-missing", "请填写岗位"),
    ("staff-hired-future", "入职日期不能晚于今天"),
    ("staff-qualification-unknown", "请选择资格证书类型"),
    (
        "staff-certificate-number-invalid",
        "请填写证书编号（不超过 50 字）",
    ),
    (
        "staff-certificate-dates-invalid",
        "发证日期不能晚于今天，有效期至不能早于发证日期",
    ),
    ("staff-training-future", "培训日期不能晚于今天"),
    ("staff-training-topic-missing", "请填写培训内容"),
    (
        "staff-training-hours-invalid",
        "培训学时应大于 0、不超过 200",
    ),
    (
        "standard-quarter-invalid",
        "统计期格式应为 年份Q季度，如 2026Q3",
    ),
    ("instrument-unknown", "量表不存在，请从列表中选择"),
    ("assessment-future", "评估日期不能晚于今天"),
    ("assessment-assessor-missing", "请填写评估人"),
    (
        "assessment-date-invalid",
        "评估日期格式应为 年-月-日，如 2026-11-23",
    ),
    ("instrument-item-missing", "【{item}】未填写"),
    (
        "instrument-item-invalid",
        "【{item}】的答案不在选项中，可选：{allowed}",
    ),
    (
        "instrument-total-range",
        "【{item}】应为 {min} 至 {max} 的整数",
    ),
    (
        "referral-new-person-invalid",
        "出院患者身份信息有误：{problems}",
    ),
    (
        "referral-new-person-township",
        "新出院患者的接收地区须为乡镇（街道）",
    ),
    ("referral-not-sender", "您的角色不能发起“{kind}”"),
    (
        "referral-new-person-not-allowed",
        "“{kind}”只能针对已登记的服务对象；未登记的出院患者请使用出院转介",
    ),
    (
        "referral-registered-elsewhere",
        "该身份证号已在本辖区以外登记，不能在此新建档案；请联系其现居住地发起迁移",
    ),
    (
        "followup-same-day",
        "该服务对象 {date} 已有一条随访记录（随访医生 {doctor}，{at} 录入）。同一天再记一次请确认：勾选“确认再记录一次”后保存；若是补录或更正，请先核对已有记录",
    ),
    ("import-outside-rows", "{n} 行属于本辖区以外的镇街，已跳过"),
    (
        "registration-agreement-missing",
        "不能开始服务：尚无有效的{kinds}。服务开始前须签署知情同意书和服务协议，请先在本页“协议”一栏录入（已过期的须重新签署）",
    ),
    (
        "registration-ineligible",
        "登记条件未全部符合（{conditions}）。如确需登记，请在“原因或说明”中写明例外理由",
    ),
    ("cli-outbox-empty", "待发送队列为空"),
    (
        "cli-outbox-line",
        "#{id}　{created}　{topic}　尝试 {attempts} 次　{status}",
    ),
    ("cli-outbox-retry", "已将 {n} 条消息设为立即重发"),
    (
        "cli-outbox-secret-missing",
        "未设置环境变量 {var}（webhook 签名密钥），没有发送任何消息",
    ),
    (
        "cli-outbox-drained",
        "发送成功 {sent} 条，失败 {failed} 条（失败的将按退避时间重试）",
    ),
    // -- domain: 性别 --
    ("sex-invalid", "性别应填写“男”或“女”"),
    ("sex-missing", "性别未填写"),
];

/// The Chinese template for `code`, or the code itself if it is unknown (a bug, caught by tests).
pub fn template(code: &str) -> &'static str {
    MESSAGES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, t)| *t)
        .unwrap_or("未知错误")
}

/// Render the template of `code`, replacing each `{key}` with its value.
pub fn render(code: &str, args: &[(&str, &str)]) -> String {
    let mut s = template(code).to_string();
    for (k, v) in args {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for (code, text) in MESSAGES {
            assert!(seen.insert(*code), "duplicate message code {code}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "code {code} is not kebab-case"
            );
            assert!(!text.is_empty());
        }
    }

    /// Every code the sources render (`render("…"`, `Problem::new("…"`) is in the table: a
    /// missing one would reach the user as 未知错误.
    #[test]
    fn every_code_rendered_is_in_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        let mut dirs = vec![
            root.join("jingkang-core/src"),
            root.join("jingkang-web/src"),
            root.join("jingkang/src"),
        ];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let known: std::collections::HashSet<&str> = MESSAGES.iter().map(|(c, _)| *c).collect();
        let mut checked = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for call in ["render(", "Problem::new("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    let Some(rest) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let code = &rest[..rest.find('"').unwrap()];
                    if code.is_empty()
                        || !code
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    {
                        continue;
                    }
                    assert!(
                        known.contains(code),
                        "{}: {call}\"{code}\" has no message",
                        f.display()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
