"""Usage: python3 bench/exchange_list.py DATA/jingkang.db list.csv

A 公安-style list from a jingkang SQLite registry: 90 % of its persons (15 % without ID number,
5 % with a 15-digit one, 10 % at another address, 2 % with a homophone-free typo in the birth day)
and 5 % strangers. Writes list.csv (UTF-8 with BOM) and truth counts."""
import csv, random, sqlite3, sys
db, out = sys.argv[1], sys.argv[2]
random.seed(7)
rows = sqlite3.connect(db).execute(
    "select p.name,p.id_number,p.sex,p.birth_date,p.residence_address,p.phone,g.name "
    "from persons p left join guardians g on g.person_id=p.id and g.ordinal=1").fetchall()
w = csv.writer(open(out, "w", newline="", encoding="utf-8-sig"))
w.writerow(["序号", "人员姓名", "公民身份号码", "性别", "出生日期", "户籍详址", "联系电话", "监护人", "人员状态"])
n = listed = no_id = 0
for name, idn, sex, bd, addr, phone, g in rows:
    if random.random() < 0.10:
        continue
    r = random.random()
    if r < 0.15:
        idn = ""; no_id += 1
    elif r < 0.20 and idn[6:8] == "19":
        idn = idn[:6] + idn[8:17]
    if random.random() < 0.10:
        addr = "南桐镇红岩社区%d栋%d单元" % (random.randint(1, 30), random.randint(1, 6))
    n += 1; listed += 1
    w.writerow([n, name, idn, "男" if sex == "male" else "女", bd, addr or "", phone or "", g or "", "正常"])
for k in range(len(rows) // 20):
    n += 1
    w.writerow([n, random.choice("张王李赵刘陈杨黄周吴") + random.choice(["伟", "芳", "建国", "秀英", "志强"]),
                "", random.choice("男女"), "19%02d-%02d-%02d" % (random.randint(40, 99), random.randint(1, 12), random.randint(1, 28)),
                "万东镇新田村%d组" % random.randint(1, 12), "", "", "正常"])
print(f"registry {len(rows)}, listed {listed} (no ID {no_id}), strangers {len(rows)//20}")
